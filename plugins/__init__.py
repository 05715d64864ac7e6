"""modomodo's bundled plugins. Each subpackage uses only the public API of ``modomodo`` and is
registered through the ``modomodo`` entry-point group, exactly like a third-party plugin."""
