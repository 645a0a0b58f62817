"""Tables, the database handle, migrations, and the one module where dialects differ."""

from agnt_api.db.database import Database

__all__ = ["Database"]
