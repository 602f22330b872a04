import NIOCore
import Synchronization

/// Local waiters for job completions, woken by the notices one subscriber connection
/// receives. A waiter is registered *before* its caller reads the job, so a notice that
/// arrives between the read and the wait is not missed.
final class CompletionWaiters: Sendable {
    /// Woken once: by a notice for its job, by its deadline, or when it is unregistered.
    /// Its future completes on the event loop of the caller that registered it, so a wait
    /// runs there from the read to the answer, with no task in between.
    final class Waiter: Sendable {
        private let promise: EventLoopPromise<Void>

        init(on eventLoop: any EventLoop) { promise = eventLoop.makePromise() }

        var woken: EventLoopFuture<Void> { promise.futureResult }

        /// Idempotent, from any thread.
        func wake() { promise.succeed() }
    }

    private let waiters = Mutex<[String: [ObjectIdentifier: Waiter]]>([:])

    func register(_ id: String, on eventLoop: any EventLoop) -> Waiter {
        let waiter = Waiter(on: eventLoop)
        waiters.withLock { $0[id, default: [:]][ObjectIdentifier(waiter)] = waiter }
        return waiter
    }

    /// Forgets the waiter, and wakes it in case nothing did (a promise must be completed).
    func unregister(_ id: String, _ waiter: Waiter) {
        waiters.withLock { all in
            all[id]?[ObjectIdentifier(waiter)] = nil
            if all[id]?.isEmpty == true { all[id] = nil }
        }
        waiter.wake()
    }

    /// Wakes everyone waiting for `id`.
    func notify(_ id: String) {
        let woken = waiters.withLock { $0[id].map { Array($0.values) } ?? [] }
        woken.forEach { $0.wake() }
    }

    /// Wakes every waiter so each reads its job again (after the subscriber reconnects,
    /// notices may have been missed).
    func notifyAll() {
        let woken = waiters.withLock { $0.values.flatMap(\.values) }
        woken.forEach { $0.wake() }
    }
}
