import SwiftRPC
import Tracing
import Testing

@Suite struct TraceParentTests {
    static let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    @Test func aValidHeaderParsesAndWritesBack() throws {
        let parent = try #require(TraceParent(Self.header))
        #expect(parent.traceID == "4bf92f3577b34da6a3ce929d0e0e4736" && parent.parentID == "00f067aa0ba902b7" && parent.flags == "01")
        #expect(parent.header == Self.header)
        // A later version's extra fields are dropped, as the W3C spec says.
        #expect(TraceParent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-next")?.header == Self.header)
    }

    @Test(arguments: [
        "", "garbage", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  // uppercase
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  // 31 digits
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  // zero span id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // version ff
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  // version 00 has four fields
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
    ])
    func anInvalidHeaderIsIgnored(header: String) {
        #expect(TraceParent(header) == nil)
    }

    @Test func aChildKeepsTheTraceUnderANewSpan() throws {
        let parent = try #require(TraceParent(Self.header))
        let children = (0..<100).map { _ in parent.child() }
        #expect(children.allSatisfy { $0.traceID == parent.traceID && $0.flags == parent.flags && TraceParent($0.header) == $0 })
        #expect(Set(children.map(\.parentID)).count == 100 && !children.contains { $0.parentID == parent.parentID })
    }

    @Test func withNoTracerTheTraceIdStillGoesOn() throws {
        let parent = try #require(TraceParent(Self.header))
        let (span, handOn) = TraceParent.startSpan("enqueue f", ofKind: .producer, parent: parent)
        span?.end()
        #expect(handOn?.traceID == parent.traceID && handOn?.parentID != parent.parentID)
        #expect(TraceParent.startSpan("enqueue f", ofKind: .producer, parent: nil).handOn == nil)
    }
}
