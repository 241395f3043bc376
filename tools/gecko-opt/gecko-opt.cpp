//===- gecko-opt.cpp - The gecko optimizer driver -------------------------===//
//
// mlir-opt with the gecko dialect, its passes and pipelines, and the
// test-only passes of tests/lit/lib registered.
//
//===----------------------------------------------------------------------===//

#include "RegisterGecko.h"

#include "mlir/Tools/mlir-opt/MlirOptMain.h"

namespace mlir::gecko::test {
void registerTestGeckoPasses();
} // namespace mlir::gecko::test

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  mlir::gecko::registerGeckoDialects(registry);
  mlir::gecko::registerGeckoPasses();
  mlir::gecko::test::registerTestGeckoPasses();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "Gecko optimizer driver\n", registry));
}
