// dsx: the command-line interface. Each subcommand lives in its own cmd_*.cc file.
#include <cstdio>

int main(int argc, char** argv) {
  std::fprintf(stderr, "dsx: no commands yet\n");
  return 2;
}
