{
  genAttrs = names: f: builtins.listToAttrs (map (name: { inherit name; value = f name; }) names);
  makeLibraryPath = pkgs: builtins.concatStringsSep ":" (map (p: "${p}/lib") pkgs);
  makeBinPath = pkgs: builtins.concatStringsSep ":" (map (p: "${p}/bin") pkgs);
}
