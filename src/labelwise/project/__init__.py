"""Projects: a folder tying together the images, the database, the embedding store and settings.

The CLI and (later) the server are two thin doors into these functions.
"""

from labelwise.project.project import Project

__all__ = ["Project"]
