import SwiftRPC

/// The functions of the hello app: one answered inline, one run by workers.
public func registerHello(in registry: inout FunctionRegistry) {
    registry.register("greet", Param<String>("name")) { name in
        "Hello, \(name)!"
    }
    registry.registerMQ("square", Param<Int>("x")) { x in
        let (product, overflow) = x.multipliedReportingOverflow(by: x)
        if overflow { throw FunctionError("square(\(x)) does not fit in 64 bits") }
        return product
    }
}
