# A stand-in for nixpkgs, for evaluating generated flakes offline: `import nixpkgs { system; overlays; config; }`
# returns a package set with the attributes the templates use, overlays applied as nixpkgs applies them.
{ system ? "x86_64-linux", overlays ? [ ], config ? { } }:
let
  fake = name: {
    type = "derivation";
    inherit name system;
    outPath = "/nix/store/00000000000000000000000000000000-${name}";
    lib = fake "${name}-lib";
  };
  lib = import ./lib.nix;
  base = final: {
    inherit lib system config;
    stub = true;
    mkShellNoCC = args: args // { type = "derivation"; name = args.name or "nix-shell"; };
    stdenv = { cc = { cc = fake "gcc"; }; };
    cudaPackages = { cudatoolkit = fake "cudatoolkit"; cudnn = fake "cudnn"; };
  } // lib.genAttrs [
    "pixi" "uv" "git" "pandoc" "bashInteractive" "zlib" "libGL" "glib"
    "python310" "python311" "python312" "python313" "python314"
  ] fake;
  # The same fixed point as nixpkgs: each overlay sees the final set and the one before it.
  extend = prev: overlay: prev // overlay final prev;
  final = builtins.foldl' extend (base final) overlays;
in
final
