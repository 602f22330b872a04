import NIOCore

/// A value that is ready now (inline functions, errors) or later (async, pool, Redis). Inline
/// calls never allocate a future: that is what keeps them at the speed of a bare NIO handler.
public enum Pending<Value: Sendable>: Sendable {
    case now(Value)
    case later(EventLoopFuture<Value>)

    public func map<NewValue: Sendable>(_ transform: @escaping @Sendable (Value) -> NewValue) -> Pending<NewValue> {
        switch self {
        case .now(let value): .now(transform(value))
        case .later(let future): .later(future.map(transform))
        }
    }

    public func future(on eventLoop: any EventLoop) -> EventLoopFuture<Value> {
        switch self {
        case .now(let value): eventLoop.makeSucceededFuture(value)
        case .later(let future): future
        }
    }

    /// All of `pendings`, in order; `.now` when every one is.
    public static func all(_ pendings: [Pending<Value>], on eventLoop: any EventLoop) -> Pending<[Value]> {
        var values: [Value] = []
        values.reserveCapacity(pendings.count)
        for pending in pendings {
            guard case .now(let value) = pending else {
                return .later(EventLoopFuture.whenAllSucceed(pendings.map { $0.future(on: eventLoop) }, on: eventLoop))
            }
            values.append(value)
        }
        return .now(values)
    }
}

/// An HTTP answer, now or later.
public typealias RPCReply = Pending<RPCResponse>

extension EventLoopFuture {
    /// `map` and `recover` in one step, for the calls that await Redis, a task or the pool:
    /// one new future and one callback instead of two of each.
    func mapResult<NewValue: Sendable>(_ transform: @escaping @Sendable (Result<Value, any Error>) -> NewValue) -> EventLoopFuture<NewValue> {
        let promise = eventLoop.makePromise(of: NewValue.self)
        whenComplete { promise.succeed(transform($0)) }
        return promise.futureResult
    }
}
