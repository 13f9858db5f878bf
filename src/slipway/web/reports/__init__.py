"""Reports rendered as standalone files (HTML with inline CSS and SVG charts)."""
