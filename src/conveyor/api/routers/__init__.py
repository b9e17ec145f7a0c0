"""The API's routers, one per resource; ``conveyor.api.app`` includes them."""
