"""The {{project_name}} application package."""
