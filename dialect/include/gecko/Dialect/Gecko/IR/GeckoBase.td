//===- GeckoBase.td - Base classes and type constraints ----*- tablegen -*-===//

#ifndef GECKO_DIALECT_GECKO_IR_GECKOBASE_TD
#define GECKO_DIALECT_GECKO_IR_GECKOBASE_TD

include "gecko/Dialect/Gecko/IR/GeckoDialect.td"
include "gecko/Dialect/Gecko/IR/GeckoInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"

//===----------------------------------------------------------------------===//
// Type constraints
//===----------------------------------------------------------------------===//

/// Floating-point tensors of any static-or-dynamic ranked shape. Shapes are
/// checked by each op's verifier against its labelled constraints.
def Gecko_FloatTensor : RankedTensorOf<[F16, BF16, F32, F64]>;
/// fp32 or fp64 tensors: states and statistics the spec keeps in fp32.
def Gecko_WideFloatTensor : RankedTensorOf<[F32, F64]>;
def Gecko_IndexTensor : RankedTensorOf<[I32, I64]>;
def Gecko_I64Tensor : RankedTensorOf<[I64]>;
def Gecko_BoolTensor : RankedTensorOf<[I1]>;

//===----------------------------------------------------------------------===//
// Base op class
//===----------------------------------------------------------------------===//

/// Every gecko op is pure (value semantics, no side effects) and infers its
/// result types from its operands and attributes.
class Gecko_Op<string mnemonic, list<Trait> traits = []>
    : Op<Gecko_Dialect, mnemonic,
         !listconcat(traits, [Pure, InferTypeOpAdaptor])>;

/// A forward op that builds its own vector-Jacobian product.
class Gecko_DifferentiableOp<string mnemonic, list<Trait> traits = []>
    : Gecko_Op<mnemonic, !listconcat(traits,
          [DeclareOpInterfaceMethods<Gecko_DifferentiableOpInterface>])>;

#endif // GECKO_DIALECT_GECKO_IR_GECKOBASE_TD
