"""Administration pages: users and roles."""
