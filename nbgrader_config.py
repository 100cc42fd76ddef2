# nbgrader configuration for the course: https://nbgrader.readthedocs.io/en/stable/configuration/
c = get_config()  # noqa: F821 (provided by nbgrader)

c.CourseDirectory.course_id = "cnn-course"
# solutions/<lab>/<lab>.ipynb is the single source of truth; labs/ is generated from it.
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "labs"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"

# A lab runs in seconds; a cell that takes longer than this is an infinite loop.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True

# Students see this stub where the solution was.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
