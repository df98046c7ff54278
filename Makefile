# The two commands: `make demo` and `make check`.  Everything else is
# plain meson (see docs/).
BUILD ?= build
ASAN_BUILD ?= build-asan
LAUNCH = $(BUILD)/tools/t2i-launch/t2i-launch

.PHONY: all demo demo-train check check-asan fuzz bench docs clean

all:
	scripts/bootstrap $(BUILD)

# The main demo: text to image with the small LAFITE model shipped in
# models/ (models/README.md), for the prompts of examples/prompts.txt;
# writes out/lafite-NNNN.png per prompt and out/lafite-grid-000.png.
demo: all
	mkdir -p out
	$(LAUNCH) pipelines/lafite-generate.t2i
	@echo "demo: one image per prompt of examples/prompts.txt in out/lafite-NNNN.png;" \
	    "all of them in out/lafite-grid-000.png (its prompts: out/lafite-grid-000.txt)"

# A short language-free LAFITE training on shapes with the shipped CLIP (a
# few minutes on 2 cores); after it the trainer draws examples/prompts.txt
# with the new generator.  out/demo-train-report/index.html follows it.
demo-train: all
	mkdir -p out
	$(LAUNCH) --report out/demo-train-report \
	    --set clip=models/clip-shapes.safetensors --set ch=32 \
	    --set xi=0.65 --set steps=400 --set out=out/demo-train \
	    pipelines/lafite-train-free.t2i
	@echo "demo-train: checkpoint out/demo-train.safetensors," \
	    "its samples out/demo-train-samples-400.png," \
	    "the report out/demo-train-report/index.html"

# Builds and runs every test.
check: all
	meson test -C $(BUILD) --print-errorlogs --num-processes 2

# The same tests under AddressSanitizer + UndefinedBehaviorSanitizer.
check-asan:
	scripts/bootstrap $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false
	meson test -C $(ASAN_BUILD) --print-errorlogs --num-processes 2 --no-suite slow

# The libFuzzer targets of tests/fuzz, FUZZ_SECONDS each (default 60;
# FUZZ_SECONDS=600 for the full run); builds build-fuzz/ with clang
# (installed the first time).  docs/reliability.md.
fuzz:
	scripts/fuzz

bench: all
	bench/run

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz out
