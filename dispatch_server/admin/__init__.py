"""The administrators' API: teams, routing rules, categories' duplicate settings."""
