"""Write the students' repository: the course without its solutions, with a fresh history.

    python scripts/publish.py OUT_DIR [--repo-url https://github.com/ORG/NAME]   (make publish)

The work is the grading package's (coursegrader.publish, which says what is left out);
this script is its command line.
"""

import sys

from coursegrader.publish import main

if __name__ == "__main__":
    sys.exit(main())
