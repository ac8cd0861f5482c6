"""{{project_name}}: the application and its command line (`python app.py server:start`)."""

from framework import App, FrameworkModule

from {{package}}.config import AppConfig
from {{package}}.module import MainModule

app = App(
    config=AppConfig,
    imports=[FrameworkModule(), MainModule()],
    name="{{project_name}}",
).load_config_from_env(prefix="APP_")

if __name__ == "__main__":
    app.run()
