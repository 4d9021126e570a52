# A stand-in for nixpkgs, for evaluating generated flakes offline: `import nixpkgs { system; overlays; config; }`
# returns a package set with the attributes the templates use, overlays applied as nixpkgs applies them.
# `mkShellNoCC` makes a real derivation that `nix develop` / `nix print-dev-env` (and so direnv's `use flake`)
# can enter on x86_64-linux, and `pixi`/`uv` are real tiny packages whose commands only report their arguments on
# stderr ("uv (nix stub): sync ..."). A `label.nix` next to a copy of this stub (a string) prefixes every package
# name, so a test can tell two stubs apart (e.g. nixpkgs and nixpkgs-newer).
{ system ? "x86_64-linux", overlays ? [ ], config ? { } }:
let
  label = if builtins.pathExists ./label.nix then import ./label.nix else "";
  fake = name: {
    type = "derivation";
    name = "${label}${name}";
    inherit system;
    outPath = "/nix/store/00000000000000000000000000000000-${label}${name}";
    lib = fake "${name}-lib";
  };
  # A package with one command, bin/NAME, that prints "NAME (nix stub): ARGS" on stderr and succeeds.
  tool = name: derivation {
    name = "${label}${name}";
    inherit system;
    builder = "/bin/sh";
    args = [ "-c" ''
      /bin/mkdir -p $out/bin
      printf '#!/bin/sh\necho "${name} (nix stub): $*" >&2\n' > $out/bin/${name}
      /bin/chmod +x $out/bin/${name}
    '' ];
  };
  lib = import ./lib.nix;
  base = final: {
    inherit lib system config;
    stub = true;
    # nix develop only enters derivations whose builder is called bash; the real mkShellNoCC puts `packages`
    # on PATH, and so does this one.
    mkShellNoCC = { name ? "nix-shell", packages ? [ ], ... }@attrs: derivation (attrs // {
      inherit name system;
      builder = "/bin/bash";
      args = [ "-c" "echo > $out" ];
      outputs = [ "out" ];
      PATH = lib.makeBinPath packages;
    });
    stdenv = { cc = { cc = fake "gcc"; }; };
    cudaPackages = { cudatoolkit = fake "cudatoolkit"; cudnn = fake "cudnn"; };
    python3Packages = { black = fake "black"; };  # a nested attribute path for .nix/packages.nix
  } // lib.genAttrs [ "pixi" "uv" ] tool // lib.genAttrs [
    "git" "pandoc" "bashInteractive" "zlib" "libGL" "glib" "ffmpeg" "graphviz"
    "python310" "python311" "python312" "python313" "python314"
  ] fake;
  # The same fixed point as nixpkgs: each overlay sees the final set and the one before it.
  extend = prev: overlay: prev // overlay final prev;
  final = builtins.foldl' extend (base final) overlays;
in
final
