#!/usr/bin/env bash
# System packages the GUI tests need on Debian/Ubuntu: an X server for pytest-xvfb (napari's
# OpenGL canvas wants a real X display) and the libraries Qt's xcb platform plugin loads.
# Idempotent: installs only what `dpkg-query` reports missing, so a second run does nothing and
# never touches the network. Run as root (CI) or with sudo available.
set -euo pipefail

PACKAGES=(
    # X server + auth cookie tool used by pytest-xvfb / pyvirtualdisplay
    xvfb xauth
    # Qt 6 xcb platform plugin (libqxcb.so / libQt6XcbQpa.so) dependencies
    libxcb-icccm4 libxcb-keysyms1 libxcb-xinerama0 libxkbcommon-x11-0 libxkbcommon0
    libxcb-randr0 libxcb-render-util0 libxcb-image0 libxcb-shape0 libxcb-cursor0
    libxcb-xfixes0 libxcb-xkb1 libxcb-sync1 libxcb-shm0 libx11-xcb1
    # OpenGL / EGL for vispy (napari canvas) with Mesa software rendering
    libegl1 libgl1 libopengl0 libglx-mesa0 libgl1-mesa-dri
    # fonts, D-Bus, GLib used by QtGui / QtWidgets
    libdbus-1-3 libfontconfig1 libglib2.0-0 fonts-dejavu-core
)

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    echo "install_system_deps: not a Debian/Ubuntu system; install Xvfb and Qt xcb libraries yourself" >&2
    exit 0
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    if [ "$status" != "installed" ]; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install_system_deps: all ${#PACKAGES[@]} packages already installed"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install_system_deps: need root (or sudo) to install: ${missing[*]}" >&2
        exit 1
    fi
fi

echo "install_system_deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
