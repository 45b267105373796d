"""Views of a Plan. The versioned JSON form is the contract; text and Markdown read it."""
