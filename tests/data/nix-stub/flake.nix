{
  description = "Offline stand-in for nixpkgs in reproml's tests";
  outputs = { self }: {
    lib = import ./lib.nix;
    legacyPackages = self.lib.genAttrs [ "x86_64-linux" "aarch64-linux" "aarch64-darwin" ]
      (system: import ./. { inherit system; });
  };
}
