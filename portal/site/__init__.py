"""Site-wide pages: home, about, licence, language switch."""
