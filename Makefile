# The README's two commands: `make main` (the main job) and `make test` (the tests).
# Both create the virtual environment .venv and install the project into it when needed.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup main test export smoke clean-results bench

$(STAMP): settings.ini setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	@touch $(STAMP)

setup: $(STAMP)

# Main job: the csrl pipeline on ELPV at the cpu profile (128 px), one seed, through papermill: SimCLR
# pretraining of the ConvNet encoder, then fine-tuning of the SimCLR arm and the from-scratch arm.
# ELPV ships in the elpv-dataset package: no download, no data root.
# It writes under runs/ (git-ignored), never the committed results/ or figures/ (that takes --publish).
main: $(STAMP)
	$(BIN)/defect-nb reproduce csrl-elpv --profile cpu -p 'seeds=[0]' -p 'encoders=["convnet"]'

# Tests: the style check (ruff, rules in ruff.toml), every component notebook (nbdev_test), then pytest: the real-data tests and every paper notebook at the smoke
# profile through the CLI and papermill (tests/test_*.py), so each paper notebook runs once.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/nbdev_test --path nbs --skip_file_re '^_' --skip_folder_re '^(paper|[_.])'
	$(BIN)/python -m pytest tests -q -rs

# nbdev: export the package from the notebooks (never edit defect_nb/ by hand).
export: $(STAMP)
	$(BIN)/nbdev_export

# Every table at the smoke profile (wiring check).
smoke: $(STAMP)
	$(BIN)/defect-nb reproduce --profile smoke --out /tmp/defect_nb-smoke

# Benchmarks (not tests; no test asserts on a time): our SimCLR step vs the same step on lightly's NTXentLoss,
# augmentation vs training throughput (results/bench/simclr_step.{json,png}; lightly is installed here only), and
# KeAD's dense features vs WinCLIP's sliding windows (results/bench/kead_speed.json), and the training engine's
# settings (fp32, bf16 autocast, channels_last) on four workloads plus its data path (results/bench/engine.{json,png}),
# and anomalib's PatchCore beside ours on the cat protocol (MTD, needs the data root; results/bench/anomalib.{json,png}).
bench: $(STAMP)
	$(BIN)/python -m pip install -q -e ".[bench]"
	$(BIN)/python tools/bench_simclr.py
	$(BIN)/python tools/bench_kead.py
	$(BIN)/python tools/bench_engine.py
	$(BIN)/python tools/bench_anomalib.py

# The rendered tutorial: every notebook (nbconvert, no quarto; the component notebooks executed, minutes), the
# executed paper notebooks (the smoke tables run first into runs/ when they have none there), reports and
# figures as a static site in _site/ (git-ignored); open _site/index.html.
.PHONY: site report readme
site: $(STAMP)
	$(BIN)/defect-nb site --dest _site --run smoke

# The cpu-profile report (Markdown + one self-contained HTML page) and the README's generated blocks.
report: $(STAMP)
	$(BIN)/defect-nb report --profile cpu --readme

readme: $(STAMP)
	$(BIN)/defect-nb readme
