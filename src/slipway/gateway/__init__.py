"""The data plane: every client request passes through here, and nothing here waits on bookkeeping."""
