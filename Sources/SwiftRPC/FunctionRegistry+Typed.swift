/// Typed registration: each parameter's name and Swift type are stated once, in a `Param`,
/// and the function receives typed values; its result is any `Encodable`.
///
/// ```swift
/// registry.register("add", Param<Int>("a"), Param<Int>("b")) { a, b in a + b }
/// registry.registerMQ("resize", Param<Image>("image"), Param<Int>("width", default: 640)) { image, width in ... }
/// ```
///
/// Calls are bound and checked exactly as for untyped functions (SPEC §8), against the JSON
/// type each Swift type maps to; `/functions` lists the same names and types. An MQ function
/// reads its job's context (id, attempt, deadline, logger metadata) from `JobContext.current`.
///
/// The registrations are `@inlinable`, so each is specialized for its concrete types where it
/// is called: binding and result encoding then need no runtime type lookups or dynamic casts.
extension FunctionRegistry {
    @inlinable public mutating func register<each P: ParameterValue, Result: Encodable & Sendable>(
        _ name: String, _ parameters: repeat Param<each P>, body: @escaping @Sendable (repeat each P) throws -> Result
    ) {
        let typed = (repeat each parameters)
        add(
            RegisteredFunction(
                name: name, parameters: Self.declarations(repeat each parameters), timeout: nil,
                body: .sync { arguments in try ResultEncoding.json(body(repeat try (each typed).value(in: arguments, function: name))) }))
    }

    @inlinable public mutating func registerAsync<each P: ParameterValue, Result: Encodable & Sendable>(
        _ name: String, _ parameters: repeat Param<each P>, timeout: Duration? = nil,
        body: @escaping @Sendable (repeat each P) async throws -> Result
    ) {
        let typed = (repeat each parameters)
        add(
            RegisteredFunction(
                name: name, parameters: Self.declarations(repeat each parameters), timeout: timeout,
                body: .async { arguments in try ResultEncoding.json(await body(repeat try (each typed).value(in: arguments, function: name))) }))
    }

    @inlinable public mutating func registerPool<each P: ParameterValue, Result: Encodable & Sendable>(
        _ name: String, _ parameters: repeat Param<each P>, timeout: Duration? = nil,
        body: @escaping @Sendable (repeat each P) throws -> Result
    ) {
        let typed = (repeat each parameters)
        add(
            RegisteredFunction(
                name: name, parameters: Self.declarations(repeat each parameters), timeout: timeout,
                body: .pool { arguments in try ResultEncoding.json(body(repeat try (each typed).value(in: arguments, function: name))) }))
    }

    @inlinable public mutating func registerMQ<each P: ParameterValue, Result: Encodable & Sendable>(
        _ name: String, _ parameters: repeat Param<each P>, options: MQOptions = MQOptions(),
        body: @escaping @Sendable (repeat each P) async throws -> Result
    ) {
        let typed = (repeat each parameters)
        add(
            RegisteredFunction(
                name: name, parameters: Self.declarations(repeat each parameters), timeout: nil,
                body: .mq(.async { arguments in try ResultEncoding.json(await body(repeat try (each typed).value(in: arguments, function: name))) }, options)))
    }

    /// An MQ function that takes its job's context first: `{ (context: JobContext, x: Int) in … }`.
    /// (Disfavoured, so a closure whose first parameter is not typed `JobContext` keeps meaning
    /// the other forms, as `registerMQ("tick") { _ in … }` always has.)
    @_disfavoredOverload
    @inlinable public mutating func registerMQ<each P: ParameterValue, Result: Encodable & Sendable>(
        _ name: String, _ parameters: repeat Param<each P>, options: MQOptions = MQOptions(),
        body: @escaping @Sendable (JobContext, repeat each P) async throws -> Result
    ) {
        let typed = (repeat each parameters)
        add(
            RegisteredFunction(
                name: name, parameters: Self.declarations(repeat each parameters), timeout: nil,
                body: .mq(
                    .async { arguments in
                        guard let context = JobContext.current else { throw FunctionError("\(name) runs only in a worker (no job context)") }
                        return try ResultEncoding.json(await body(context, repeat try (each typed).value(in: arguments, function: name)))
                    }, options)))
    }

    @inlinable public mutating func registerMQBlocking<each P: ParameterValue, Result: Encodable & Sendable>(
        _ name: String, _ parameters: repeat Param<each P>, options: MQOptions = MQOptions(),
        body: @escaping @Sendable (repeat each P) throws -> Result
    ) {
        let typed = (repeat each parameters)
        add(
            RegisteredFunction(
                name: name, parameters: Self.declarations(repeat each parameters), timeout: nil,
                body: .mq(.blocking { arguments in try ResultEncoding.json(body(repeat try (each typed).value(in: arguments, function: name))) }, options)))
    }

    @inlinable static func declarations<each P: ParameterValue>(_ parameters: repeat Param<each P>) -> [Parameter] {
        var declared: [Parameter] = []
        repeat declared.append((each parameters).parameter)
        return declared
    }
}
