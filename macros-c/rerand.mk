# rerand.mk: make a kernel module rerandomizable.
#
# In the module's Kbuild (or Makefile), after obj-m / foo-y:
#
#     obj-m := foo.o
#     include $(RERAND_MK)
#
# and build with rerand-ld as the linker:
#
#     make -C $KDIR M=$PWD LD=rerand-ld modules
#
# `eval "$(cargo xtask env)"` sets RERAND_MK, KDIR and puts rerand-ld on PATH.
# What this adds: -ffunction-sections (one section per function: what
# rerand-ld moves), -fno-ipa-ra (callers must not rely on a callee's
# register use: a trampoline stands between them), macros-c/ on the include path (#include <rerand.h> for
# SPECIAL_FUNCTION and RERAND_EXCLUDE), references that let modpost version
# the runtime's symbols and record depends=rerand, and the runtime's
# Module.symvers.

RERAND_DIR := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)

ifneq ($(KERNELRELEASE),)

# -fno-ipa-ra: with interprocedural register allocation GCC lets a caller
# keep values in caller-saved registers across a call to a function of the
# same object whose body it knows leaves them alone; the trampoline in
# between calls the runtime's hooks, which may clobber any of them. Kernels
# with DYNAMIC_FTRACE_WITH_REGS (Debian's) pass -fpatchable-function-entry,
# which already turns IPA-RA off; kernels without ftrace do not (seen: a
# zsmalloc oops in the in-tree build test, cured by this flag).
ccflags-y += -ffunction-sections -fno-ipa-ra -I$(RERAND_DIR)/macros-c \
	-include $(RERAND_DIR)/macros-c/rerand_ref.h
RERAND_SYMVERS ?= $(RERAND_DIR)/runtime-kmod/Module.symvers
KBUILD_EXTRA_SYMBOLS += $(RERAND_SYMVERS)

# Checks that only make sense when building, not on `make clean`.
ifeq ($(filter __clean,$(MAKECMDGOALS)),)
ifeq ($(wildcard $(RERAND_SYMVERS)),)
$(error rerand.mk: $(RERAND_SYMVERS) not found: build the runtime first (cargo xtask build, or make -C $$KDIR M=$(RERAND_DIR)/runtime-kmod))
endif
ifneq ($(notdir $(firstword $(LD))),rerand-ld)
$(error rerand.mk: link with rerand-ld: make -C $$KDIR M=$$PWD LD=rerand-ld modules (LD is now '$(LD)'))
endif
endif

else

# Outside Kbuild: `make -f path/to/rerand.mk` or `include` from a plain
# Makefile gives a `rerand-modules` target with the right command line.
KDIR ?= /lib/modules/$(shell uname -r)/build
RERAND_LD ?= rerand-ld

rerand-modules:
	$(MAKE) -C $(KDIR) M=$(CURDIR) LD=$(RERAND_LD) RERAND_MK=$(RERAND_DIR)/macros-c/rerand.mk modules

.PHONY: rerand-modules

endif
