dnl Postern's configure helpers.

dnl PST_REQUIRE_PKG(VAR, MODULES, DEBIAN-PACKAGE)
dnl A missing dependency stops configure with the package to install,
dnl because "library not found" alone sends administrators searching.
AC_DEFUN([PST_REQUIRE_PKG], [
  PKG_CHECK_MODULES([$1], [$2], [],
    [AC_MSG_ERROR([$2 not found: install $3 (Debian: apt-get install $3)])])
])

dnl PST_CHECK_C17: insist on a C17 compiler.
AC_DEFUN([PST_CHECK_C17], [
  AC_MSG_CHECKING([whether $CC accepts -std=c17])
  pst_save_CFLAGS=$CFLAGS
  CFLAGS="$CFLAGS -std=c17"
  AC_COMPILE_IFELSE([AC_LANG_PROGRAM([[]], [[_Static_assert(1, "c17");]])],
    [AC_MSG_RESULT([yes])],
    [AC_MSG_RESULT([no]); AC_MSG_ERROR([a C17 compiler is required])])
  CFLAGS=$pst_save_CFLAGS
  AC_SUBST([PST_STD_CFLAGS], ["-std=c17"])
])

dnl PST_WARNINGS: --enable-werror turns warnings into errors (CI uses it).
AC_DEFUN([PST_WARNINGS], [
  AC_ARG_ENABLE([werror],
    [AS_HELP_STRING([--enable-werror], [treat compiler warnings as errors])],
    [], [enable_werror=no])
  PST_WARN_CFLAGS="-Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes -Wformat=2"
  AS_IF([test "x$enable_werror" = xyes], [PST_WARN_CFLAGS="$PST_WARN_CFLAGS -Werror"])
  AC_SUBST([PST_WARN_CFLAGS])
])

dnl PST_SANITIZERS: --enable-sanitizers builds with ASan and UBSan.
AC_DEFUN([PST_SANITIZERS], [
  AC_ARG_ENABLE([sanitizers],
    [AS_HELP_STRING([--enable-sanitizers], [build with AddressSanitizer and UndefinedBehaviorSanitizer])],
    [], [enable_sanitizers=no])
  PST_SAN_CFLAGS=""
  AS_IF([test "x$enable_sanitizers" = xyes],
    [PST_SAN_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"])
  AC_SUBST([PST_SAN_CFLAGS])
])
