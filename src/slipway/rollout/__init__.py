"""The control plane: route transitions, deployment strategies and the loop that carries them out."""
