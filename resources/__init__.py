"""The data qsa-gui ships: icons, the .desktop entry, real H&E sample images.

Installed as the package ``qsa_gui._resources`` (pyproject maps this folder there); code reaches it
only through :mod:`qsa_gui.resources`. Nothing here is imported for its code.
"""
