# An example overlay; it changes nothing until you uncomment a line. Ask for the arguments you need (any of
# `system`, `nixpkgs-newer`, `inputs`); `...` accepts the rest.
{ system, ... }:
final: prev: {
  # A package of your own, defined in ../pkgs/my-tool/default.nix:
  # my-tool = final.callPackage ../pkgs/my-tool { };

  # A patched or pinned version of a nixpkgs package:
  # hello = prev.hello.overrideAttrs (old: { patches = (old.patches or [ ]) ++ [ ./hello.patch ]; });
}
