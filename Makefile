# The two commands: `make demo` and `make check`.  Everything else is
# plain meson (see docs/).
BUILD ?= build
ASAN_BUILD ?= build-asan
LAUNCH = $(BUILD)/tools/t2i-launch/t2i-launch

.PHONY: all demo check check-asan bench docs clean

all:
	scripts/bootstrap $(BUILD)

# Runs the main demo pipeline on embedded defaults; writes out/demo.png
# (and the grid's captions to out/demo.txt).
demo: all
	mkdir -p out
	$(LAUNCH) pipelines/demo.t2i

# Builds and runs every test.
check: all
	meson test -C $(BUILD) --print-errorlogs --num-processes 2

# The same tests under AddressSanitizer + UndefinedBehaviorSanitizer.
check-asan:
	scripts/bootstrap $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false
	meson test -C $(ASAN_BUILD) --print-errorlogs --num-processes 2 --no-suite slow

bench: all
	bench/run

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) out
