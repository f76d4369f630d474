"""The application icon (SVG source, PNG renderings); a package so npe2 can name it."""
