# embed.cmake — writes the bytes of IN as the C array st_dashboard_html
# (NUL-terminated, length without it) into OUT: mod_status's page, built
# into the module so it needs no files at run time.
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" n)
math(EXPR len "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUT} "/* generated from dashboard.html by embed.cmake */\n#include <stddef.h>\n"
  "const unsigned char st_dashboard_html[] = {${bytes}0x00};\n"
  "const size_t st_dashboard_html_len = ${len};\n")
