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
        private let promise: EventLoopPromise<Notice?>

        init(on eventLoop: any EventLoop) { promise = eventLoop.makePromise() }

        /// The notice that woke it, if a notice did.
        var woken: EventLoopFuture<Notice?> { promise.futureResult }

        /// Idempotent, from any thread; the first wake wins.
        func wake(by notice: Notice? = nil) { promise.succeed(notice) }
    }

    /// A completion notice: `{id} {status}`, and for a job that finished with a small result,
    /// ` {result JSON}` (the finish script's choice).
    struct Notice: Sendable {
        var id: Substring
        var status: Substring
        var result: Substring?

        init?(_ message: String) {
            let parts = message.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count >= 2 else { return nil }
            (id, status, result) = (parts[0], parts[1], parts.count == 3 ? parts[2] : nil)
        }
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

    /// Wakes everyone waiting for the notice's job.
    func notify(_ notice: Notice) {
        let woken = waiters.withLock { $0[String(notice.id)].map { Array($0.values) } ?? [] }
        woken.forEach { $0.wake(by: notice) }
    }

    /// Wakes every waiter so each reads its job again (after the subscriber reconnects,
    /// notices may have been missed).
    func notifyAll() {
        let woken = waiters.withLock { $0.values.flatMap(\.values) }
        woken.forEach { $0.wake() }
    }
}
