"""One module per verb. Plain typed functions returning small result objects; the CLI only translates."""
