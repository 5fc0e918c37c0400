"""The catalog: themes, departments, datasets, versions and the data dictionary."""
