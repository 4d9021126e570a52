# Loads every overlay in this folder: each other `*.nix` file and each folder holding a `default.nix`, in name
# order. An overlay file is either `final: prev: { ... }` or a function of the arguments it needs, e.g.
# `{ system, nixpkgs-newer }: final: prev: { ... }`; it gets exactly those, and a missing one fails by name.
args:
let
  entries = builtins.readDir ./.;
  isOverlay = name:
    let type = entries.${name}; in
    (type == "regular" && name != "default.nix" && builtins.match ".*\\.nix" name != null)
    || (type == "directory" && builtins.pathExists (./. + "/${name}/default.nix"));
  names = builtins.filter isOverlay (builtins.attrNames entries);
  join = builtins.concatStringsSep ", ";
  load = name:
    let
      overlay = import (./. + "/${name}");
      wanted = builtins.functionArgs overlay;
      missing = builtins.filter (arg: !wanted.${arg} && !(args ? ${arg})) (builtins.attrNames wanted);
    in
    if wanted == { } then overlay
    else if missing != [ ] then
      throw "overlay .nix/overlays/${name} asks for ${join missing}, which flake.nix does not pass (it passes: ${join (builtins.attrNames args)})"
    else overlay (builtins.intersectAttrs wanted args);
in
map load names
