"""The reviewer UI and JSON API (``detector web``)."""
