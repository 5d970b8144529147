"""`python -m ganhub` runs the command line (torchrun -m ganhub ... too)."""

from ganhub.cli import main

if __name__ == "__main__":
    main()
