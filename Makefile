# Two commands for everyone: `make lab` opens the curriculum (the student copies), `make test` runs every test.
# Both create .venv and install on first use, and skip the install when nothing changed.
# Python 3.11 to 3.13; the first of python3.11, python3.12, python3.13, python3 found (or PYTHON=...).
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3.13 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.xmodal_installed
PORT   ?= 8888
JOBS   ?= 2
# JupyterLab refuses to run as root (containers, CI) unless told it may.
ROOT_FLAG := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root)

# Fast mode on x86-64 computes as the run the lessons quote (scripts/same_numbers.env; the tests set it too).
SAME_NUMBERS := $(if $(filter x86_64 amd64,$(shell uname -m)),$(shell grep -v '^\#' scripts/same_numbers.env))
QUOTED_ENV = $(if $(filter 1,$(XMODAL_FAST)),$(SAME_NUMBERS))

.PHONY: install lab lab-solutions test test-unit test-notebooks lint student-copies benchmarks clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Without an NVIDIA GPU, torch comes from PyTorch's CPU index when it answers (scripts/torch_source.py says
# which build in one line); the versions stay those of constraints.txt.
$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	torch_options="$$($(BIN)/python scripts/torch_source.py)" && \
	$(BIN)/python -m pip install --quiet -c constraints.txt $$torch_options -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install the kit with pinned versions

lab: install  ## open the student copies of the curriculum (notebooks/student/, no solutions) in JupyterLab
	$(QUOTED_ENV) XMODAL_FAST=$${XMODAL_FAST:-0} $(BIN)/jupyter lab --notebook-dir=notebooks/student --port=$(PORT) $(ROOT_FLAG) $(LAB_ARGS)

lab-solutions: install  ## instructors: open the curriculum with its solutions (notebooks/)
	$(QUOTED_ENV) XMODAL_FAST=$${XMODAL_FAST:-0} $(BIN)/jupyter lab --notebook-dir=notebooks --port=$(PORT) $(ROOT_FLAG) $(LAB_ARGS)

# Two test processes on two cores: one BLAS/OpenMP thread each (notebook kernels inherit it), so that two
# notebooks training side by side do not oversubscribe the cores.
test: install  ## every test: unit tests, learning tests and all notebooks in fast mode
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} XMODAL_FAST=1 MPLBACKEND=Agg $(BIN)/python -m pytest -n $(JOBS) --durations=15 --nbmake tests notebooks

test-unit: install
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} XMODAL_FAST=1 MPLBACKEND=Agg $(BIN)/python -m pytest -n $(JOBS) tests

test-notebooks: install
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} XMODAL_FAST=1 MPLBACKEND=Agg $(BIN)/python -m pytest -n $(JOBS) --nbmake notebooks

lint: install
	$(BIN)/ruff check xmodal_lab tests benchmarks scripts

student-copies: install  ## regenerate notebooks/student/ (exercises without solutions)
	$(BIN)/python scripts/make_student_copies.py

benchmarks: install
	for b in benchmarks/*.py; do XMODAL_FAST=1 $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache

# Real places for the lessons: Sentinel-1/2 pairs from a STAC catalog into the cache (needs the network), and
# Segment Anything's ViT-B weights (375 MB, for lesson 06): best effort, offline it says so in one line.
SAM_FETCH := from xmodal_lab.segment import download_sam_checkpoint as get; get('vit_b', timeout=20)
.PHONY: data
data: install  ## prefetch the course's real places and SAM's ViT-B checkpoint into the cache
	$(BIN)/python -m xmodal_lab.data.fetch --course
	-$(BIN)/python -W ignore::RuntimeWarning -c "$(SAM_FETCH)"
