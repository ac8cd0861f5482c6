"""``python -m framework.cli``: the ``fw`` command line."""

from framework.cli import main

if __name__ == "__main__":  # importing it (a walk over fw's modules) runs nothing
    main()
