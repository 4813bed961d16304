"""Study protocols behind ``rhoml bench ...`` (data preparation, runs, result tables)."""
