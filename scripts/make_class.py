"""A generated class: N students' submissions of a lab, as an LMS download, with the expected scores.

    python scripts/make_class.py LAB N OUT_DIR [--mix cheap|realistic] [--seed S]

The work is the grading package's (coursegrader.generated_class, which says what each kind
of submission is); this script is its command line.
"""

import sys

from coursegrader.generated_class import main

if __name__ == "__main__":
    sys.exit(main())
