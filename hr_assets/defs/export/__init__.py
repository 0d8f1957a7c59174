"""The analysis-ready export as an asset, kept up to date daily."""
