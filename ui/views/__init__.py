"""The pages, one script each; `ui/app.py` runs the chosen one."""
