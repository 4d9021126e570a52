# Extra nixpkgs packages for the dev shell: one attribute path per line, as a quoted string ("ffmpeg",
# "graphviz", "python3Packages.black"). `reproml add --nix ATTR` and `reproml remove --nix ATTR` edit this list;
# you may edit it by hand too (flake.nix reads it; an unknown name fails with the name).
[
]
