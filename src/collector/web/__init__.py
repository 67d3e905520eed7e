"""The web app: blueprints for the JSON API and (later) the dashboard pages."""
